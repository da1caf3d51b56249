import Foundation

// The state a shell session keeps between commands: settings, the loaded model (with its adapters), the
// dataset and the last training run. Commands receive it; nothing else is global.

public final class Session: @unchecked Sendable {
  /// `set key=value` values, kept as typed text; each command parses them with its own option types.
  public var settings: [String: String] = [:]
  /// Results: captions, JSON, the tables a command was asked for.
  public let out: Output
  /// Progress, summaries, notes and errors.
  public let err: Output
  /// The progress bar on the terminal, kept clear of both streams' lines.
  let status: StatusLine
  /// True at an interactive prompt (errors return to it), false in scripts, stdin and `-c`.
  public var isInteractive = false
  /// The model `load` made resident, if any.
  public var model: LoadedModel?
  /// What `dataset` and `train` keep resident: the dataset and the last training run.
  let training = TrainingState()
  /// The weights the resident training run evaluates with (schedule-free: the averaged iterate), handed over by
  /// `train`; nil when there is no run, and the adapters' weights are used as they are.
  var evaluationWeights: (any EvaluationWeights)?
  /// Files being `source`d, innermost last (recursion guard, relative paths).
  var sourceStack: [String] = []
  public let cancellation = Cancellation()

  public init(out: Output = .standardOutput, err: Output = .standardError) {
    status = StatusLine(screen: err)
    // stdout redirected to a file never shares the terminal line with the bar.
    self.out = out.isTerminal ? out.sharing(status) : out
    self.err = err.sharing(status)
  }

  /// A shell setting (an option of `set`): the `set` value or the declared default.
  public func setting(_ name: String) -> Value? {
    guard let option = SetCommand.shellOptions.first(where: { $0.name == name }) else { return nil }
    if let text = settings[name], let value = try? option.parse(text) { return value }
    return option.defaultValue
  }

  /// The prompt: `flr> `, `flr(base-ft)> `, with the active adapter `flr(base-ft+mylora)> ` and a merged one
  /// `flr(base-ft+mylora(merged))> `.
  public var prompt: String {
    guard let model else { return "flr> " }
    var name = model.displayName
    if let merged = model.adapters.merged { name += "+\(merged.name)(merged)" }
    if let active = model.adapters.active { name += "+\(active.name)" }
    return "flr(\(name))> "
  }

  /// Runs `body` with the resident training run's evaluation weights in its adapter (the weights `save` writes),
  /// then puts the training values back bit for bit, so `train resume` continues as if nothing had happened.
  func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T {
    guard let evaluationWeights else { return try body() }
    return try evaluationWeights.withEvaluationWeights(body)
  }

  /// Diagnostics line on stderr.
  public func note(_ text: String) { err.line(text) }
}
