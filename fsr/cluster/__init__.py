"""Cluster mode: agents spread over the hosts of a Ray cluster. Ray places and controls the
processes (one controller actor per host); ZeroMQ stays the data path. This package owns the
placement, the controllers, the host clocks, the host-level faults and the local test cluster
(`fsr cluster up`: hosts in network namespaces). The single-machine mode needs none of it."""
