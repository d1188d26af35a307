"""The screens: the dashboard, and the dialogs and views opened over it."""
