"""Architecture diagrams (Mermaid) generated from a synthesized cloud assembly: one flowchart per
stack, one diagram per state machine, an overview; written between markers in the docs pages.
No network, no Docker: the input is a cdk.out folder. Usage: docs/diagrams.md."""
