"""Embeds FAQ questions and resolved tickets into a FAISS store; rebuilds incrementally, swaps atomically."""
