"""Agent process entry point: ``python -m fsr.agents PLAN NODE_ID RUNNER_PID``."""

from __future__ import annotations

import os
import signal
import sys

from fsr.agents.supervisor import die_with_parent


def main() -> None:
    plan_path, node_id, parent = sys.argv[1], sys.argv[2], int(sys.argv[3])
    die_with_parent(parent)
    from fsr.agents.agent import Agent
    from fsr.agents.plan import RunPlan

    agent = Agent(RunPlan.load(plan_path), node_id)

    def stop(*_: object) -> None:
        agent.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the runner, which stops us
    agent.run()
    os._exit(0)


if __name__ == "__main__":
    main()
