"""Convert a UI-format workflow (what the ComfyUI front end saves) into an API-format prompt.

This mirrors the front end's `graphToPrompt` (comfyui-frontend-package 1.27, ComfyUI 0.3.64):

- widget values: `widgets_values` lines up with the node's widgets, which the front end builds from
  the node definition in `input_order` (required, then optional), one widget per widget-typed input
  (INT, FLOAT, STRING, BOOLEAN, COMBO, ... unless `forceInput`), followed by widgets the front-end
  extensions add (`upload` for image/audio upload combos, `audioUI` for the core audio nodes). An
  INT with `control_after_generate` (or, when that option is absent, named seed/noise_seed) is followed
  by its `control_after_generate` value; a COMBO with `control_after_generate` by that and a
  `control_filter_list` value. Front-end-only widgets are not sent.
- links: an input fed by a link becomes `[origin_id, slot]`, overriding its widget value.
  Reroutes are followed; a link from a PrimitiveNode gives the primitive's value; bypassed nodes
  (mode 4) are passed through (input at the same slot if its type fits, else the first input of the
  exact type, else the first compatible one); muted nodes (mode 2) are dropped with every input that
  links to them. Note / MarkdownNote are dropped.
- STRING widgets with `dynamicPrompts` get the front end's treatment: comments stripped and
  `{a|b}` choices resolved (with a seeded RNG here, for reproducibility).

Subgraphs and legacy group nodes are not supported (a clear error says so).
"""
from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from typing import Any

MODE_NEVER = 2  # "muted"
MODE_BYPASS = 4
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
NOTES = {"Note", "MarkdownNote"}
VIRTUAL = {REROUTE, PRIMITIVE} | NOTES

# Input types for which the front end creates a widget (ComfyWidgets + core extensions' custom widgets).
WIDGET_TYPES = {
    "INT", "FLOAT", "BOOLEAN", "STRING", "MARKDOWN", "COMBO", "IMAGEUPLOAD", "FILEUPLOAD", "COLOR",
    "IMAGECOMPARE", "TREESELECT", "MULTISELECT", "CHART", "GALLERIA", "SELECTBUTTON", "TEXTAREA",
    "AUDIO_UI", "AUDIOUPLOAD", "AUDIO_RECORD", "WEBCAM", "LOAD_3D", "LOAD_3D_ANIMATION", "PREVIEW_3D",
    "PREVIEW_3D_ANIMATION",
}
# Nodes to which the front end's Comfy.AudioWidget extension adds an `audioUI` widget.
AUDIO_UI_NODES = {"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus",
                  "C2DLoadAudio"}  # the last one through this pack's web/c2d_audio_player.js
MEDIA_UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")


class WorkflowConversionError(ValueError):
    """The workflow cannot be turned into an API prompt."""


class MissingNodeTypeError(WorkflowConversionError):
    """The workflow uses node types the host does not know. `.missing` maps node id → type."""

    def __init__(self, missing: dict):
        self.missing = missing
        listed = ", ".join(f"node {i} ({t!r})" for i, t in missing.items())
        super().__init__(f"missing node types: {listed}. Install the custom node pack that provides them "
                         f"(or check that it loaded without errors).")


# ---- node definitions --------------------------------------------------------------------------
def _input_types(node_def: Any) -> dict:
    """INPUT_TYPES of a node class (V1 or V3), or an INPUT_TYPES-like dict given directly."""
    if isinstance(node_def, Mapping):
        return dict(node_def.get("input", node_def))
    return node_def.INPUT_TYPES()


def _spec_type(spec) -> str:
    kind = spec[0]
    if isinstance(kind, (list, tuple)):
        return "COMBO"
    return str(kind)


def _options(spec) -> dict:
    return dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], Mapping) else {}


def widget_layout(class_type: str, input_types: dict) -> list[tuple[str, str, tuple]]:
    """The node's widgets in front-end order: (name, kind, spec) with kind "input" (a backend input),
    "control" (control_after_generate / control_filter_list) or "ui" (front-end only widget)."""
    required = dict(input_types.get("required", {}))
    optional = dict(input_types.get("optional", {}))
    injected = {}  # what front-end extensions append to `required`; they end up after `optional`
    if class_type in AUDIO_UI_NODES:
        injected["audioUI"] = ("AUDIO_UI", {})
    if _options(required.get("audio", (None,))).get("audio_upload") is True:
        injected["upload"] = ("AUDIOUPLOAD", {})
    elif any(_spec_type(s) == "COMBO" and any(_options(s).get(o) is True for o in MEDIA_UPLOAD_OPTIONS)
             for s in required.values()):
        injected["upload"] = ("IMAGEUPLOAD", {})
    layout = []
    for group, kind in ((required, "input"), (optional, "input"), (injected, "ui")):
        for name, spec in group.items():
            spec = tuple(spec) if isinstance(spec, (list, tuple)) else (spec,)
            typ, opts = _spec_type(spec), _options(spec)
            if typ not in WIDGET_TYPES or opts.get("forceInput"):
                continue
            layout.append((name, kind, spec))
            control = opts.get("control_after_generate")
            if typ == "INT":
                if control is None:
                    control = name in ("seed", "noise_seed")
                if control:
                    layout.append(("control_after_generate", "control", spec))
            elif typ == "COMBO" and control:
                layout.append(("control_after_generate", "control", spec))
                layout.append(("control_filter_list", "control", spec))
    return layout


def _default(spec) -> Any:
    opts = _options(spec)
    if "default" in opts:
        return opts["default"]
    if isinstance(spec[0], (list, tuple)) and spec[0]:
        return spec[0][0]
    if opts.get("options"):
        return opts["options"][0]
    return None


# ---- dynamic prompts (front end's processDynamicPrompt) -----------------------------------------
def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    pos = 0

    def escape() -> str:
        nonlocal pos
        char = text[pos] if pos < len(text) else ""
        pos += 1
        return "\\" + char

    def choice_block() -> str:
        nonlocal pos
        options, choice, depth = [], "", 0
        while pos < len(text):
            char = text[pos]
            pos += 1
            if char == "\\":
                choice += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(choice)
                choice = ""
                continue
            choice += char
        options.append(choice)
        return process_dynamic_prompt(options[math.floor(rng.random() * len(options))], rng)

    result = ""
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "\\":
            result += escape()
        elif char == "{":
            result += choice_block()
        else:
            result += char
    return re.sub(r"\\([{}|])", r"\1", result)


# ---- links -------------------------------------------------------------------------------------
def _valid_connection(a, b) -> bool:
    """LiteGraph.isValidConnection."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return bool(set(a.split(",")) & set(b.split(",")))


def _links(workflow: dict) -> dict:
    out = {}
    for link in workflow.get("links", []) or []:
        if isinstance(link, Mapping):
            out[link["id"]] = (link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                               link.get("type"))
        else:
            out[link[0]] = tuple(link[1:6])
    return out


class _Resolver:
    def __init__(self, nodes: dict, links: dict):
        self.nodes, self.links = nodes, links

    def input(self, node: dict, slot: int, visited: set, want_type=None):
        key = (node["id"], "I", slot)
        if key in visited:
            raise WorkflowConversionError(f"circular link while resolving input {slot} of node {node['id']}")
        visited.add(key)
        inputs = node.get("inputs") or []
        if slot >= len(inputs):
            raise WorkflowConversionError(f"node {node['id']} ({node['type']}) has no input slot {slot}")
        link_id = inputs[slot].get("link")
        if link_id is None:
            return None
        if link_id not in self.links:
            raise WorkflowConversionError(f"node {node['id']} input {inputs[slot].get('name')!r}: link {link_id} "
                                          f"is not in the workflow's links")
        origin_id, origin_slot = self.links[link_id][:2]
        if origin_id not in self.nodes:
            raise WorkflowConversionError(f"link {link_id} comes from node {origin_id}, which is not in the workflow")
        return self.output(self.nodes[origin_id], origin_slot, want_type or inputs[slot].get("type"), visited)

    def output(self, node: dict, slot: int, want_type, visited: set):
        """("link", node_id, slot), ("value", v) or None (nothing to connect)."""
        key = (node["id"], "O", slot)
        if key in visited:
            raise WorkflowConversionError(f"circular link while resolving output {slot} of node {node['id']}")
        visited.add(key)
        if node.get("mode") == MODE_BYPASS:
            index = self._bypass_index(node, slot, want_type)
            return None if index == -1 else self.input(node, index, visited)
        if node["type"] == REROUTE:
            inputs = node.get("inputs") or []
            return self.input(node, slot, visited, want_type) if slot < len(inputs) else None
        if node["type"] == PRIMITIVE:
            values = node.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if node["type"] in NOTES:
            return None
        return ("link", node["id"], slot)

    @staticmethod
    def _bypass_index(node: dict, slot: int, want_type) -> int:
        """ExecutableNodeDTO#getBypassSlotIndex."""
        inputs = node.get("inputs") or []
        outputs = node.get("outputs") or []
        out_type = outputs[slot].get("type") if slot < len(outputs) else None
        if want_type in ("*", ""):
            return slot if len(inputs) > slot else 0
        if slot < len(inputs):
            opposite = inputs[slot].get("type")
            if _valid_connection(opposite, out_type) and _valid_connection(opposite, want_type):
                return slot
        for i, inp in enumerate(inputs):
            if inp.get("type") == want_type:
                return i
        for i, inp in enumerate(inputs):
            if _valid_connection(inp.get("type"), out_type) and _valid_connection(inp.get("type"), want_type):
                return i
        return -1


def _wrap(value):
    """Lists are links in the API format; the front end wraps list values (the backend unwraps)."""
    return {"__value__": value} if isinstance(value, list) else value


# ---- conversion --------------------------------------------------------------------------------
def ui_to_api(workflow: dict, node_defs: Mapping[str, Any], dynamic_prompt_seed: int = 0) -> dict:
    """API prompt {node_id: {"class_type", "inputs", "_meta"}} for a UI-format workflow.

    node_defs: class_type → node class (e.g. `nodes.NODE_CLASS_MAPPINGS` of the running host; V1 and
    V3 classes both have INPUT_TYPES) or → an INPUT_TYPES dict. Raises MissingNodeTypeError for node
    types it does not contain, WorkflowConversionError for workflows it cannot convert.
    """
    if "nodes" not in workflow:
        raise WorkflowConversionError("not a UI-format workflow (no 'nodes'); API-format prompts need no conversion")
    nodes = {n["id"]: n for n in workflow["nodes"]}
    subgraph_ids = {sg.get("id") for sg in (workflow.get("definitions") or {}).get("subgraphs", [])}
    unsupported = {i: n["type"] for i, n in nodes.items()
                   if n["type"] in subgraph_ids or str(n["type"]).startswith("workflow>")}
    if unsupported:
        raise WorkflowConversionError(f"subgraphs / group nodes are not supported: {unsupported}; unpack them first")
    missing = {i: n["type"] for i, n in nodes.items()
               if n["type"] not in VIRTUAL and n["type"] not in node_defs
               and n.get("mode") not in (MODE_NEVER, MODE_BYPASS)}  # those do not run
    if missing:
        raise MissingNodeTypeError(missing)
    resolver = _Resolver(nodes, _links(workflow))
    rng = random.Random(dynamic_prompt_seed)
    output: dict[str, dict] = {}
    for node_id, node in nodes.items():
        if node["type"] in VIRTUAL or node.get("mode") in (MODE_NEVER, MODE_BYPASS):
            continue
        input_types = _input_types(node_defs[node["type"]])
        inputs: dict[str, Any] = {}
        for name, value in _widget_values(node, input_types).items():
            spec = _spec_of(input_types, name)
            if isinstance(value, str) and _options(spec).get("dynamicPrompts"):
                value = process_dynamic_prompt(value, rng)
            inputs[name] = _wrap(value)
        for slot, inp in enumerate(node.get("inputs") or []):
            resolved = resolver.input(node, slot, set())
            if resolved is None:
                continue
            if resolved[0] == "value":
                inputs[inp["name"]] = _wrap(resolved[1])
            else:
                inputs[inp["name"]] = [str(resolved[1]), int(resolved[2])]
        output[str(node_id)] = {"inputs": inputs, "class_type": node["type"],
                                "_meta": {"title": node.get("title") or node["type"]}}
    for entry in output.values():  # inputs linked to nodes that are not in the prompt (muted) go
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                del entry["inputs"][name]
    return output


def _spec_of(input_types: dict, name: str) -> tuple:
    for group in ("required", "optional"):
        if name in input_types.get(group, {}):
            spec = input_types[group][name]
            return tuple(spec) if isinstance(spec, (list, tuple)) else (spec,)
    return (None,)


def _widget_values(node: dict, input_types: dict) -> dict:
    """Backend input name → widget value for one node, from its widgets_values."""
    layout = widget_layout(node["type"], input_types)
    values = node.get("widgets_values")
    if values is None:
        values = []
    if isinstance(values, Mapping):  # some nodes save {name: value}
        return {name: values[name] if name in values else _default(spec)
                for name, kind, spec in layout if kind == "input" and (name in values or _default(spec) is not None)}
    values = _migrate_force_input(list(values), input_types, layout)
    out = {}
    for index, (name, kind, spec) in enumerate(layout):
        if kind != "input":
            continue
        if index < len(values):
            out[name] = values[index]
        elif _default(spec) is not None:  # the widget keeps its default when the file has no value
            out[name] = _default(spec)
    return out


def _migrate_force_input(values: list, input_types: dict, layout: list) -> list:
    """Workflows saved before front end 1.16 hold a dummy value for each forceInput input
    (migrateWidgetsValues): drop them when the count says so."""
    widget_names = {name for name, kind, _ in layout if kind == "input"}
    originals = []
    for group in ("required", "optional"):
        for name, spec in input_types.get(group, {}).items():
            spec = tuple(spec) if isinstance(spec, (list, tuple)) else (spec,)
            if name in widget_names or _options(spec).get("forceInput"):
                originals.append((name, spec))
    if not any(_options(s).get("forceInput") for _, s in originals):
        return values
    counts = [2 if (_options(s).get("control_after_generate") or n in ("seed", "noise_seed")) else 1
              for n, s in originals]
    if sum(counts) != len(values):
        return values
    kept, pos = [], 0
    for (name, spec), count in zip(originals, counts):
        if not _options(spec).get("forceInput"):
            kept.extend(values[pos:pos + count])
        pos += count
    return kept
