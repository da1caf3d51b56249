import FlrCore

// `threads N`: how many threads the numeric kernels use (same as `set threads=N`).

enum ThreadsCommand {
  static let command = Command(
    "threads", group: .shell, summary: "Set the number of compute threads, or print it",
    positionals: PositionalSpec("N", .int(1...1024), minimum: 0, maximum: 1, "thread count"),
    examples: ["threads 2", "threads"],
    run: { arguments, session in
      guard let text = arguments.positionals.first, let count = Int(text) else {
        session.out.line("threads: \(Threads.count)")
        return
      }
      session.settings["threads"] = text
      try apply(count, session)
    })

  /// Hands the count to the kernels and to OpenBLAS.
  static func apply(_ count: Int, _ session: Session) throws {
    Threads.count = count
  }
}
