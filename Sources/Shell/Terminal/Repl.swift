import Foundation

// The interactive loop: read a line, run it, report errors in one line and keep all state.

struct Repl {
  let session: Session

  func run() -> Int32 {
    session.isInteractive = true
    let historySize = { (session.setting("history_size").flatMap { Int($0.description) }) ?? 1000 }
    let editor = LineEditor(historySize: historySize())
    Completion.session = session
    let interpreter = Interpreter(session: session)
    if let line = Repl.startLine(stdinIsTerminal: isatty(0) == 1, session: session) { session.note(line) }
    var lineNumber = 0
    while true {
      switch editor.read(prompt: session.prompt) {
      case .end:
        editor.newline()
        editor.save(historySize: historySize())
        return 0
      case .interrupted:
        continue
      case .line(let text):
        lineNumber += 1
        Interrupt.reset()
        do {
          try interpreter.run(text, name: "<line \(lineNumber)>", arguments: ["flr"])
        } catch let error as ShellError {
          switch error.kind {
          case .quit(let code):
            editor.save(historySize: historySize())
            return code
          case .interrupted:
            session.note("interrupted")
          default:
            session.note(Repl.describe(error, line: text, interactiveName: "<line \(lineNumber)>"))
          }
        } catch {
          session.note("error: \(describeError(error))")
        }
        editor.save(historySize: historySize())
      }
    }
  }

  /// The line the interactive shell starts with, on a terminal only (piped input gets no banner).
  static func startLine(stdinIsTerminal: Bool, session: Session) -> String? {
    guard stdinIsTerminal else { return nil }
    let next = session.model.map { "model \($0.displayName) loaded" } ?? "load MODEL to start"
    return "\(FlrMain.version) — help lists the commands; \(next)"
  }

  /// `error: message`, or `FILE:LINE: message` when it came from a `source`d script.
  static func describe(_ error: ShellError, line: String, interactiveName: String) -> String {
    if let file = error.file, file != interactiveName { return error.located }
    return "error: \(error.message)"
  }
}
