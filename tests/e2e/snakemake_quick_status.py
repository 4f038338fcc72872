"""Snakemake, its remote executors checking job status every ``MAX_WAIT`` seconds at most (the SLURM test).

snakemake-executor-plugin-slurm waits 10 s longer before each status check that finds no job finished (up to
180 s): right for a real cluster, where it spares the scheduler, but a test of jobs lasting seconds then
spends most of its time waiting. Run as ``python snakemake_quick_status.py <snakemake arguments>``.
"""

import asyncio

from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

MAX_WAIT = 2.0


async def _sleep(self) -> None:
    await asyncio.sleep(min(self.next_seconds_between_status_checks, MAX_WAIT))


RemoteExecutor.sleep = _sleep

if __name__ == "__main__":
    from snakemake.cli import main

    main()
