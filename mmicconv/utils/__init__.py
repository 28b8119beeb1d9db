"""Utilities: the tools' error contract (``cli``) and the environment report
(``env``, ``python -m mmicconv.utils.env``)."""
