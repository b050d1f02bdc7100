"""Provider repositories (agreements §18): add-ons installed from a Git repository that lists them
in a Home Assistant-style `repository.yaml`, updated (pull, then restart) and uninstalled.

    installer = RepositoryInstaller(supervisor)
    state = await installer.install("https://example.org/acme-providers.git", "acme")
    state = await installer.update("acme")
    await installer.uninstall("acme")     # the process is gone, the clone and venv deleted

`git` runs as an asyncio subprocess with a timeout (`git.run_git`); `repository_file` reads and
checks the listing; the supervisor persists what was installed (`supervisor.persisted`).
"""

from timebase.repos.installer import RepositoryInstaller
from timebase.repos.repository_file import REPOSITORY_FILE, Repository, load_repository

__all__ = ["REPOSITORY_FILE", "Repository", "RepositoryInstaller", "load_repository"]
