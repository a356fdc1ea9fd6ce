"""mnp: admission and OVN enforcement for Kubernetes MultiNetworkPolicy."""

__version__ = "0.1.0"
