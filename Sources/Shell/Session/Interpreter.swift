import Foundation

// Runs shell text: lexes all of it first (a syntax error anywhere stops a script before it starts),
// then binds and runs one command at a time, stopping at the first error. Errors leave located:
// `ShellError.file` and `.position` say where, for `FILE:LINE: message`.

public struct Interpreter {
  public let session: Session
  public init(session: Session) { self.session = session }

  /// Runs `text` as the source named `name` (a path, `<stdin>`, `<-c>`); `arguments[0]` is `$0`.
  public func run(_ text: String, name: String, arguments: [String] = []) throws {
    let statements: [Statement]
    do {
      statements = try Lexer.statements(text, arguments: arguments.isEmpty ? [name] : arguments)
    } catch var error as ShellError {
      if error.file == nil { error.file = name }
      throw error
    }
    for statement in statements { try execute(statement, in: name) }
  }

  /// Runs a script file (`source`, `flr FILE.flr`).
  public func runFile(_ path: String, arguments: [String] = []) throws {
    guard session.sourceStack.count < 32 else {
      throw ShellError("source: scripts nested more than 32 deep (does \(path) source itself?)")
    }
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      let exists = FileManager.default.fileExists(atPath: path)
      throw ShellError(exists ? "cannot read \(path) as UTF-8 text" : "no such file: \(path)")
    }
    session.sourceStack.append(path)
    defer { session.sourceStack.removeLast() }
    try run(text, name: path, arguments: [path] + arguments)
  }

  /// Runs one command; any error comes out as a `ShellError` located in `name`.
  public func execute(_ statement: Statement, in name: String) throws {
    do {
      if Interrupt.pending { throw ShellError.interrupted }
      try executeUnlocated(statement)
    } catch var error as ShellError {
      if error.file == nil {
        error.file = name
        if error.position == nil { error.position = statement.position }
      }
      throw error
    } catch {
      var located = ShellError(describeError(error), at: statement.position)
      located.file = name
      throw located
    }
  }

  private func executeUnlocated(_ statement: Statement) throws {
    guard let first = statement.words.first else { return }
    if let key = first.key {
      let hint = key == "set" ? "" : " (to change a default: set \(first.text))"
      throw ShellError("expected a command name, found the option \(key)=\(hint)", at: first.position)
    }
    guard let command = Registry.find(first.text) else {
      let hint = closestMatch(to: first.text, among: Registry.allNames).map { "; did you mean \($0)?" } ?? ""
      throw ShellError("unknown command '\(first.text)'\(hint) (`help` lists them)", at: first.position)
    }
    let arguments = try Binder.bind(statement, to: command, settings: session.settings)
    Interrupt.commandStarted()
    defer { Interrupt.commandFinished() }
    try command.run(arguments, session)
  }
}
