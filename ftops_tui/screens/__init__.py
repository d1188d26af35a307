"""Screens: the dashboard and its modals."""
