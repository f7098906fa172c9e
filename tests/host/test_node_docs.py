"""docs/nodes.md is what the node schemas say (regenerate with `python -m devtools.node_docs`)."""
from devtools.node_docs import DOC, render


def test_node_reference_is_generated_from_the_schemas(comfy_host):
    text = render(comfy_host.pack_module.NODES)
    assert DOC.is_file(), "docs/nodes.md is missing: run python -m devtools.node_docs"
    assert DOC.read_text() == text, "docs/nodes.md is stale: run python -m devtools.node_docs"
    for cls in comfy_host.pack_module.NODES:
        schema = cls.define_schema()
        assert schema.description, f"{schema.node_id} has no description"
