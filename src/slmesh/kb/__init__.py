"""The knowledge base: documents cut into chunks, embedded once, searched per question (`slmesh kb ...`)."""
