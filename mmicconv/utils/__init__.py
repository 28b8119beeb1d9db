"""Utilities: the tools' error contract (``cli``), the environment report
(``env``, ``python -m mmicconv.utils.env``) and the CPU's description (``cpu``)."""
