"""The local OVN lab: a private OVN, an OVN-Kubernetes-like topology, and ovn-trace matrices."""
