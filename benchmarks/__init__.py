"""Benchmarks of voxkv_async against raw aiohttp, naive aiohttp and the official SDK.

Run ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""
