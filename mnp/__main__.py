from mnp.cli import main

raise SystemExit(main())
