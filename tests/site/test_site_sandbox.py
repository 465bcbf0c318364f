"""Templates from the pond are hostile: the ``template`` factory and the site render sandboxed.

Issue 12, item 3: ``{{ cycler.__init__.__globals__.os.popen('id').read() }}`` ran a shell command
through an unsandboxed Jinja2 environment. Each test names a marker file the command would
create and checks it does not exist afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from duckpond import Pond
from duckpond.errors import InvalidData
from duckpond.factories import registry as reg
from duckpond.factories import resolver

HOSTILE = [
    "{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}",
    "{{{{ joiner.__init__.__globals__.os.system('touch {marker}') }}}}",
    "{{{{ namespace.__init__.__globals__.__builtins__.__import__('os')"
    ".system('touch {marker}') }}}}",
    "{{{{ ''.__class__.__mro__[1].__subclasses__() }}}}{{{{ 'x'.__class__ }}}}",
    "{{% for c in [].__class__.__base__.__subclasses__() %}}{{{{ c }}}}{{% endfor %}}",
]


def _pond_with_template(tmp_path: Path, text: str) -> Pond:
    pond = Pond.init(tmp_path / "pond", factories=resolver)
    with pond.transaction(["setup"]) as tx:
        r = tx.root()
        r.mkdir("/data")
        r.write_file("/data/a.txt", b"a")
        reg.mknod(
            r,
            "template",
            "/pages",
            yaml.safe_dump({"pattern": "/data/*", "name": "$0.md", "template": text}),
        )
    return pond


@pytest.mark.parametrize("template", HOSTILE)
def test_template_factory_refuses_unsafe_access(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "pwned"
    pond = _pond_with_template(tmp_path, template.format(marker=marker))
    node = pond.root().resolve("/pages/a.txt.md")
    with pytest.raises(InvalidData, match=r"template: .*unsafe") as info:
        node.read_bytes()
    assert info.value.path == "/pages/a.txt.md"
    assert not marker.exists()


def test_template_factory_still_renders_plain_templates(tmp_path: Path) -> None:
    pond = _pond_with_template(tmp_path, "# {{ name | upper }} {{ captures | join(',') }}")
    assert pond.root().resolve("/pages/a.txt.md").read_bytes() == b"# A.TXT a.txt"


def test_cat_of_a_hostile_template_exits_8_in_a_real_process(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _pond_with_template(tmp_path, HOSTILE[0].format(marker=marker))
    r = subprocess.run(
        [sys.executable, "-m", "duckpond", "--pond", tmp_path / "pond", "cat", "/pages/a.txt.md"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 8, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pond: /pages/a.txt.md: template: "), lines
    assert "unsafe" in lines[0]
    assert r.stdout == ""
    assert not marker.exists()


def test_site_templates_render_in_a_sandbox() -> None:
    from jinja2.sandbox import SandboxedEnvironment

    from duckpond.site.render import _environment

    env = _environment()
    assert isinstance(env, SandboxedEnvironment)
