"""The one error type every contract check raises."""


class ContractViolationError(ValueError):
    """A value crossed a seam without honouring its contract (bad id, bad seed, bad loss...).

    A subclass of ValueError so callers that validate input generically still catch it.
    """
