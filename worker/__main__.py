"""`python -m worker`: one ARQ worker process that survives any Redis outage (worker.resilience)."""
from arq.worker import get_kwargs

from worker.main import SETTINGS, WorkerSettings
from worker.resilience import ResilientWorker

if __name__ == "__main__":
    ResilientWorker(**get_kwargs(WorkerSettings), store_fail_after_s=SETTINGS.store_fail_after_s).run()
