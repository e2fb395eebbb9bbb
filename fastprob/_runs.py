"""EM runs advanced together: every pass over the data feeds all runs still iterating.

A run is one initialisation of one model (an ``n_init`` restart, a candidate of
:func:`fastprob.select_mixture`).  Each pass computes the E-step statistics of
every active run's mixture (:func:`fastprob._em.e_step_many`: one read of each
chunk, one load of each tile for all of them), then each run takes its own
M-step.  A run's arithmetic does not depend on which runs share its passes,
so it ends exactly where it would have alone; a converged run stops costing.
"""
import numpy as np

from . import _em


class Run:
    """One EM run: its mixture, its iterations, and where it stopped (``change``: the last iteration's).

    Parameters
    ----------
    comps : Components to start from (factorised initial parameters).
    init : the run's initialisation number within its model (for reports).
    settings : the model's :class:`Settings`.
    rng : the random state re-seeding draws from (empty components).
    lower_bound : the bound before the first iteration (-inf, or a warm
        start's fitted bound).
    """

    def __init__(self, comps, init, settings, rng, lower_bound=-np.inf):
        self.comps, self.init, self.settings, self.rng = comps, init, settings, rng
        self.n_iter = 0
        self.lower_bound = lower_bound
        self.lower_bounds = []
        self.converged = False
        self.stats = None
        self.reseeded = []
        self.done = settings.max_iter == 0

    def step(self, stats):
        """One iteration from the E-step statistics of the run's mixture: M-step, re-seeding, the bound."""
        s = self.settings
        n_iter = self.n_iter + 1
        _em.check_underflow(stats)
        weights, means, covs = _em.m_step(stats, s.covariance_type, s.reg_covar, s.eps)
        emptied = _em.reseed_empty(weights, means, covs, stats, s.covariance_type, s.complete, self.rng)
        self.reseeded += [(self.init, n_iter, k) for k in emptied]
        self.comps = _em.factorise_or_raise(weights, means, covs, s.covariance_type, s.dtype,
                                            f"after iteration {n_iter}")
        prev, self.lower_bound = self.lower_bound, stats.loglik / s.total_weight + s.log_jacobian
        self.n_iter, self.stats = n_iter, stats
        self.lower_bounds.append(self.lower_bound)
        change = self.change = self.lower_bound - prev
        if abs(change) < s.tol:
            self.converged = self.done = True
        elif n_iter >= s.max_iter:
            self.done = True


class Settings:
    """What the runs of one model share: its EM settings and where it reports."""

    def __init__(self, covariance_type, reg_covar, eps, tol, max_iter, dtype, total_weight, log_jacobian,
                 complete, report):
        self.covariance_type, self.reg_covar, self.eps, self.tol = covariance_type, reg_covar, eps, tol
        self.max_iter, self.dtype, self.total_weight = max_iter, dtype, total_weight
        self.log_jacobian, self.complete, self.report = log_jacobian, complete, report
        self.error = None  # the exception that stopped the model's runs


def advance(source, runs, on_error=None):
    """Iterate all ``runs`` to their end, each pass over ``source`` serving every active run.

    A run whose iteration raises stops its model (every run with the same
    :class:`Settings`): with ``on_error`` None the exception propagates at
    once (as a lone fit would raise it), else ``on_error(settings, exc)`` is
    called and the other models go on.
    """
    for run in runs:
        if run.done:
            run.settings.report.init_end(run.init, run.n_iter, run.lower_bound, run.converged,
                                         verbose=run.settings.max_iter > 0)
    active = [r for r in runs if not r.done and r.settings.error is None]
    while active:
        batch = _em.e_step_many(source, [r.comps for r in active])
        for run, stats in zip(active, batch):
            if run.settings.error is not None:
                continue
            try:
                run.step(stats)
            except Exception as exc:
                if on_error is None:
                    raise
                run.settings.error = exc
                on_error(run.settings, exc)
                continue
            # (outside the try: an exception of the user's callback is not the run's failure)
            run.settings.report.iteration(run.init, run.n_iter, run.change, run.lower_bound)
            if run.done:
                run.settings.report.init_end(run.init, run.n_iter, run.lower_bound, run.converged)
        active = [r for r in active if not r.done and r.settings.error is None]
