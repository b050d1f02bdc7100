"""The parts of provider repositories that need no server: URL checks, the `repository.yaml`
listing, the saved admin state, and the docker image tag of a repository add-on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.repos.support import SLUG, write_addon
from timebase.core.config import Config, ProvidersConfig, ProviderSettings
from timebase.repos.git import check_url, shown_url
from timebase.repos.repository_file import load_repository
from timebase.sdk.errors import ConfigError, InvalidRequestError
from timebase.sdk.manifest import load_manifest
from timebase.supervisor.building import build_runtime
from timebase.supervisor.discovery import DiscoveredProvider
from timebase.supervisor.docker_runtime import DockerRuntime
from timebase.supervisor.persisted import AdminState, RepositoryInstall


@pytest.mark.parametrize(
    "url", ["https://example.org/a.git", "FILE:///srv/repo", "ssh://git@host/a", "git://h/a"]
)
def test_accepted_urls(url: str) -> None:
    assert check_url(f"  {url}\n") == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "repository: required: the URL of a Git repository"),
        ("/srv/repo", "repository: '/srv/repo' is not a Git URL (schemes: https://, http://, "
         "ssh://, git://, file://)"),
        ("--upload-pack=touch /tmp/x", "repository: not a usable URL"),
        ("ext::sh -c id", "repository: not a usable URL"),
        ("ext::sh", "repository: 'ext::sh' is not a Git URL"),
        ("git@github.com:acme/a.git", "repository: 'git@github.com:acme/a.git' is not a Git URL"),
        ("https://a/" + "x" * 2048, "repository: not a usable URL (at most 2048 characters"),
        ("https://a/\x01", "repository: not a usable URL"),
    ],
)  # fmt: skip
def test_refused_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_url(url)
    assert info.value.message.startswith(message)
    assert info.value.details == {"field": "repository"}


def test_listing_with_and_without_addons(tmp_path: Path) -> None:
    write_addon(tmp_path, SLUG)
    write_addon(tmp_path / "tools", "acme-extra")
    (tmp_path / "repository.yaml").write_text("name: ' Acme '\nmaintainer: Ops\n")
    found = load_repository(tmp_path)
    # Without `addons`: top-level folders only.
    assert (found.name, found.url, found.maintainer) == ("Acme", None, "Ops")
    assert found.folders == {SLUG: SLUG}
    (tmp_path / "repository.yaml").write_text(f"name: A\naddons: [{SLUG}, tools/acme-extra]\n")
    found = load_repository(tmp_path)
    assert found.folders == {SLUG: SLUG, "acme-extra": "tools/acme-extra"}
    assert found.addons["acme-extra"].path == tmp_path / "tools" / "acme-extra"


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ("[a, b]", "repository.yaml: expected a mapping with name (and addons)"),
        ("name: ''", "repository.yaml: name: required: a non-empty string"),
        ("name: A\nurl: 3", "repository.yaml: url: expected a string"),
        ("name: A\naddons: []", "repository.yaml: addons: expected a non-empty list of folders"),
        ("name: A\naddons: [/etc]", "repository.yaml: addons[0]: '/etc' must be a folder inside"),
        ("name: A\naddons: [missing]",
         "repository.yaml: addons[0]: 'missing' is not a folder with a config.yaml"),
        (f"name: A\naddons: [{SLUG}, copy]",
         f"repository.yaml: add-ons '{SLUG}' and 'copy' have the same slug '{SLUG}'"),
    ],
)  # fmt: skip
def test_invalid_listings(tmp_path: Path, listing: str, message: str) -> None:
    write_addon(tmp_path, SLUG)
    copy = write_addon(tmp_path, "copy")
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text().replace("copy", SLUG))
    (tmp_path / "repository.yaml").write_text(listing)
    with pytest.raises(ConfigError) as info:
        load_repository(tmp_path)
    assert info.value.message.startswith(message)


def test_empty_repository(tmp_path: Path) -> None:
    (tmp_path / "repository.yaml").write_text("name: A\n")
    with pytest.raises(ConfigError) as info:
        load_repository(tmp_path)
    assert info.value.message == (
        "repository.yaml: the repository holds no add-on (no folder with a config.yaml)"
    )


def test_admin_state_round_trip_and_a_corrupt_file(tmp_path: Path) -> None:
    empty = AdminState.load(tmp_path)
    assert (empty.installed, empty.disabled) == ({}, frozenset())
    entry = RepositoryInstall("file:///r", SLUG, "a" * 40)
    empty.with_installed(SLUG, entry).with_disabled("yahoo-finance", True).save()
    loaded = AdminState.load(tmp_path)
    assert loaded.installed == {SLUG: entry}
    assert loaded.disabled == frozenset({"yahoo-finance"})
    assert not (tmp_path / "provider-admin.json.tmp").exists()
    (tmp_path / "provider-admin.json").write_text("{not json")
    with pytest.raises(ConfigError) as info:
        AdminState.load(tmp_path)
    assert info.value.message.startswith(
        f"{tmp_path / 'provider-admin.json'}: not a provider admin state file: "
    )


def test_a_repository_addon_image_is_tagged_with_its_commit(tmp_path: Path) -> None:
    folder = write_addon(tmp_path, SLUG)
    found = DiscoveredProvider(load_manifest(folder / "config.yaml"), folder)
    config = Config(data_dir=tmp_path, providers=ProvidersConfig(runtime="docker"))
    plain = build_runtime(config, SLUG, found, [tmp_path])
    pinned = build_runtime(config, SLUG, found, [tmp_path], revision="0123456789ab")
    assert isinstance(plain, DockerRuntime)
    assert isinstance(pinned, DockerRuntime)
    assert plain.image == "timebase/provider-synthetic:1.0.0"
    assert pinned.image == "timebase/provider-synthetic:1.0.0-0123456789ab"
    # Only an image named after a commit is the runtime's own (deleted by `discard`); one the
    # settings name with a tag of their own is never deleted.
    assert (plain.owns_image, pinned.owns_image) == (False, True)
    settings = {SLUG: ProviderSettings(image="ghcr.io/acme/synth:2.0")}
    named = Config(
        data_dir=tmp_path, providers=ProvidersConfig(runtime="docker", settings=settings)
    )
    fixed = build_runtime(named, SLUG, found, [tmp_path], revision="0123456789ab")
    assert isinstance(fixed, DockerRuntime)
    assert (fixed.image, fixed.owns_image) == ("ghcr.io/acme/synth:2.0", False)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://alice:s3cret@host:8443/acme.git", "https://alice:***@host:8443/acme.git"),
        ("https://ghp_TOKEN@github.com/acme/addons.git", "https://***@github.com/acme/addons.git"),
        ("ssh://git@host/acme.git", "ssh://git@host/acme.git"),
        ("ssh://git:pw@host/acme.git", "ssh://git:***@host/acme.git"),
        ("https://host/acme.git", "https://host/acme.git"),
        ("file:///srv/acme", "file:///srv/acme"),
        ("http://[::1/acme", "<an unreadable URL>"),
    ],
)
def test_a_repository_url_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown
