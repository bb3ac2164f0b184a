"""Curated knowledge: FAQ markdown entries and resolved support tickets.

This package imports none of the other helpdesk packages.
"""
