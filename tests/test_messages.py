"""One home for topics and message bodies: stream/messages.py, documented in docs/wire-format.md."""

from __future__ import annotations

import ast
import re

from mestudio.stream import messages
from tests.conftest import ROOT

STAGES = ["capture", "stream", "sync", "elicit", "analysis", "monitor", "config", "mestudio", "reconstruct"]
TOPIC_LITERAL = re.compile(r"^(" + "|".join(sorted(messages.CHANNELS)) + r")/")


def test_no_topic_string_is_spelled_outside_the_messages_module():
    found = []
    for stage in STAGES:
        for path in (ROOT / stage).rglob("*.py") if (ROOT / stage).is_dir() else []:
            if path == ROOT / "stream" / "messages.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and TOPIC_LITERAL.match(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, "use the constants of mestudio.stream.messages:\n" + "\n".join(found)


def test_the_operator_sends_only_verbs_the_receivers_accept():
    from mestudio.elicit.controller import VERBS as PROTOCOL_VERBS
    from mestudio.monitor.operator import VERBS

    assert set(VERBS) <= messages.VERBS and set(PROTOCOL_VERBS) <= messages.VERBS


def test_the_wire_document_lists_every_topic_model_and_verb():
    doc = (ROOT / "docs" / "wire-format.md").read_text()
    for model in messages.MODELS:
        assert f"`{model.__name__}`" in doc, model.__name__
        for t in model.topics:
            assert f"`{t}" in doc, t
    for verb in messages.VERBS:
        assert f"`{verb}`" in doc, verb


def test_frames_may_carry_fixed_width_byte_strings_and_nothing_else_new():
    from mestudio.stream.messages import dtype_allowed

    assert dtype_allowed("|S256") and dtype_allowed("|S1") and dtype_allowed("|S65536") and dtype_allowed("<f4")
    for bad in ("|S0", "|S01", "|S65537", "|S", "|Sx", "|O", "<U8", "json", "|V4"):
        assert not dtype_allowed(bad), bad
