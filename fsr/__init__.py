"""fsr — Fail-Storm Recovery: how an agent-communication protocol survives a SIGKILL storm."""
