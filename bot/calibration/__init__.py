"""Calibration: when may the bot answer, and what does that promise rest on.

``examples`` (leave-one-out over the knowledge's own questions, outcomes of conversations),
``augment`` (customer-like variants), ``fitting`` (ranking weights, confidence, threshold),
``guarantee`` (the threshold's finite-sample bound), ``model`` (the fitted calibration),
``auto`` (calibrating a live desk, cached), ``evalset``/``evaluation`` (labelled questions, metrics).
"""
