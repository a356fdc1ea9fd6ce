"""The sandbox, not part of the product: ``mnp lab`` and the test harnesses' OVN and cluster.

A private OVN and kube-apiserver, a PKI, an OVN-Kubernetes-like topology, a pod controller
with a stand-in IPAM, ovn-trace matrices and the reference connectivity model they are
checked against. Installed only with mnp's ``lab`` extra (the ``mnp-lab`` distribution in
``lab/``); it imports the product, the product never imports it.
"""
