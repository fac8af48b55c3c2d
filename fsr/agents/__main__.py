"""Run one agent by hand: ``python -m fsr.agents PLAN NODE_ID STDERR_FILE``."""

import sys

from fsr.agents.supervisor import agent_main

agent_main(sys.argv[1], sys.argv[2], sys.argv[3])
