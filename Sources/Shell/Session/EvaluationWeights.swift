// The weights an adapter is used with when they differ from the ones it trains (a schedule-free optimizer keeps
// its averaged iterate apart from the training one). `train` hands its run to the session as one of these;
// `caption`, `sample`, `compare`, `eval` and `save` compute inside it without knowing how training works.

protocol EvaluationWeights: AnyObject {
  /// Runs `body` with the evaluation weights swapped in, then puts the training weights back bit for bit.
  func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T
}
