"""docs/nodes.md is what the node schemas say (regenerate with `python -m devtools.node_docs`)."""
from devtools.node_docs import DOC, render


def test_node_reference_is_generated_from_the_schemas(comfy_host):
    text = render(comfy_host.pack_module.NODES)
    assert DOC.is_file(), "docs/nodes.md is missing: run python -m devtools.node_docs"
    assert DOC.read_text() == text, "docs/nodes.md is stale: run python -m devtools.node_docs"
    for cls in comfy_host.pack_module.NODES:
        schema = cls.define_schema()
        assert schema.description, f"{schema.node_id} has no description"


def test_every_input_and_output_has_a_tooltip(comfy_host):
    """The front end shows tooltips on hover: every socket and widget of every node says what it is."""
    missing = []
    for cls in comfy_host.pack_module.NODES:
        schema = cls.define_schema()
        for kind, items in (("input", schema.inputs), ("output", schema.outputs)):
            for item in items:
                name = getattr(item, "id", None) or getattr(item, "display_name", None) or type(item).__name__
                if not (getattr(item, "tooltip", None) or "").strip():
                    missing.append(f"{schema.node_id} {kind} {name}")
    assert not missing, "no tooltip: " + ", ".join(missing)
