"""Reports computed from the case histories (the append-only events), never from the cases'
mutable columns: a report for a past period comes out the same whenever it is run, and
``as_of`` leaves out everything recorded after that moment.

``fold`` turns one case's events into a :class:`~hanport.queries.reports.fold.CaseRecord`;
``sla``, ``queue``, ``closes`` and ``operations`` aggregate the records (pure, over the
engine's working-day calendar); ``build`` streams the histories from storage through them;
``definitions`` says in words what every figure means (the report prints it).
"""
