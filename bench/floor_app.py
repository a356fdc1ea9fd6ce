"""The webhook floor as its own process: a minimal FastAPI app on ``uvicorn[standard]``.

It is what any Python webhook must at least cost: TLS, one worker, uvloop and httptools,
the AdmissionReview parsed and a canned ``allowed: true`` answered. The webhook's own
``/bench/floor`` route measures the same on the webhook's server stack (its guarded
protocol, its app); the benchmarks report both and take the faster as the floor.

    .venv/bin/python bench/floor_app.py --port 9443 --cert-file tls.crt --key-file tls.key
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/floor")
async def floor(request: Request) -> Response:
    uid = json.loads(await request.body())["request"]["uid"]
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True},
    }
    return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")


@app.get("/readyz")
async def readyz() -> Response:
    return Response(b'{"status":"ready"}', media_type="application/json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert-file", required=True)
    ap.add_argument("--key-file", required=True)
    args = ap.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.cert_file,
        ssl_keyfile=args.key_file,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
