import FlrModel

// The one place the commands reach the session's LoRA adapters (kept by the `lora` commands). The weights they
// compute with come from Session.withEvaluationWeights (a schedule-free run's averaged iterate).

enum SessionAdapters {
  /// The active adapter; an error saying what to do when there is none.
  static func active(_ session: Session) throws -> LoRAAdapter {
    guard let adapters = store(session) else { throw ShellError("no model loaded (load MODEL)") }
    guard let adapter = adapters.active else {
      if let merged = adapters.merged {
        throw ShellError(
          "adapter \(merged.name) is merged into the base weights: `unmerge` first (it becomes active again), or "
            + "create another with `lora NAME`")
      }
      throw ShellError("no active adapter: create one with `lora [NAME] rank=...` or `use NAME`")
    }
    return adapter
  }

  /// Runs `body` once per name (`base` = no adapter) with that adapter active, then re-activates the one that
  /// was active before.
  static func withEach(_ names: [String], _ session: Session, _ body: (String) throws -> Void) throws {
    guard let adapters = store(session) else { throw ShellError("no model loaded (load MODEL)") }
    let before = adapters.active?.name
    defer { try? adapters.use(before) }
    for name in names {
      if name == "base" || name == "none" {
        try adapters.use(nil)
      } else {
        guard adapters[name] != nil else {
          let known = adapters.all.map(\.name).joined(separator: ", ")
          throw ShellError("no adapter named \(name) (resident: \(known.isEmpty ? "none" : known); base = no adapter)")
        }
        try adapters.use(name)
      }
      try body(name)
    }
  }

  static func store(_ session: Session) -> LoRAAdapters? {
    session.model?.adapters
  }
}
