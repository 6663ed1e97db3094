"""The engine: Gatys style transfer as a pure function of tensors and a StyleConfig.

Nothing here knows about files, manifests, Ray or video; see docs/ARCHITECTURE.md.
"""
