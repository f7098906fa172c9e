"""GlueGen (salesforce/GlueGen, Apache-2.0): AudioCLIP audio embedding → GlueNet → a CLIP text condition (77 × 768)."""
