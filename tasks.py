from tokentool.tasks import *  # noqa: F403  (the tasks, as any project uses them)
