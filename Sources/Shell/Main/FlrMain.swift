import ArgumentParser
import Foundation

// `flr`'s command line: which mode to run in, and the exit status.
//   flr                       interactive on a terminal; otherwise reads commands from stdin
//   flr FILE.flr [ARGS...]    runs a script ($1.. are ARGS); -i stays interactive afterwards
//   flr -c 'a; b' [ARGS...]   runs one line
//   flr caption|train --...   the one-shot forms with the reference scripts' flags
// Exit status: 0 ok, 1 an error in the commands, 2 a usage error, 130 stopped by Ctrl-C.

public enum FlrMain {
  public static let version = "flr 0.1.0"

  static let usage = """
    usage: flr [-i] [FILE.flr [ARGS...]]
           flr [-i] -c 'COMMANDS' [ARGS...]
           flr caption --images DIR [--base_model ID] [--peft_model DIR] [--task T] ...   (flr caption --help)
           flr train --dataset_dir DIR --output_dir DIR [...]                           (flr train --help)
           flr --version | --help

    Without FILE or -c, flr is interactive on a terminal and reads commands from stdin otherwise.
    Inside flr, `help` lists the commands; REPL.md documents the language.
    """

  public static func run(_ argv: [String]) -> Int32 {
    var arguments = Array(argv.dropFirst())
    if let first = arguments.first, first == "caption" || first == "train" {
      return runOneShot(first, Array(arguments.dropFirst()))
    }
    var stayInteractive = false
    var line: String?
    var script: String?
    while let first = arguments.first {
      if first == "--" {
        arguments.removeFirst()
        break
      } else if first == "--version" || first == "-V" {
        print(version)
        return 0
      } else if first == "--help" || first == "-h" {
        print(usage)
        return 0
      } else if first == "-i" {
        stayInteractive = true
        arguments.removeFirst()
      } else if first == "-c" {
        arguments.removeFirst()
        guard !arguments.isEmpty else { return usageError("-c needs the commands to run") }
        line = arguments.removeFirst()
        break
      } else if first.hasPrefix("-"), first != "-" {
        return usageError("unknown option \(first)")
      } else {
        break
      }
    }
    if line == nil, let first = arguments.first {
      script = first
      arguments.removeFirst()
    }

    Interrupt.install()
    let session = Session()
    let interpreter = Interpreter(session: session)
    do {
      if let line {
        try interpreter.run(line, name: "<-c>", arguments: ["flr"] + arguments)
      } else if let script, script != "-" {
        guard FileManager.default.fileExists(atPath: script) else { return usageError("no such script: \(script)") }
        try interpreter.runFile(script, arguments: arguments)
      } else if !stayInteractive, isatty(0) == 0 || script == "-" {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: input, encoding: .utf8) else {
          session.note("<stdin>: not UTF-8 text")
          return 1
        }
        try interpreter.run(text, name: "<stdin>", arguments: ["flr"] + arguments)
        return 0
      } else {
        stayInteractive = true
      }
    } catch let error as ShellError {
      switch error.kind {
      case .quit(let code): return code
      case .interrupted:
        session.note("flr: interrupted")
        return 130
      default:
        session.note(error.located)
        return error.kind.isUsage ? 2 : 1
      }
    } catch {
      session.note("flr: \(describeError(error))")
      return 1
    }
    return stayInteractive ? Repl(session: session).run() : 0
  }

  static func usageError(_ message: String) -> Int32 {
    FileHandle.standardError.write(Data("flr: \(message)\n\(usage)\n".utf8))
    return 2
  }

  /// `flr caption ...` / `flr train ...`: parse the reference script's flags, then run the equivalent shell lines.
  static func runOneShot(_ name: String, _ arguments: [String]) -> Int32 {
    let commands: [String]
    var notes: [String] = []
    let show: Bool
    do {
      if name == "caption" {
        let parsed = try CaptionOneShot.parse(arguments)
        (commands, show) = (parsed.commands, parsed.showCommands)
      } else {
        let parsed = try TrainOneShot.parse(arguments)
        (commands, show, notes) = (parsed.commands, parsed.showCommands, parsed.notes)
      }
    } catch {
      let parser: ParsableCommand.Type = name == "caption" ? CaptionOneShot.self : TrainOneShot.self
      let code = parser.exitCode(for: error)
      let message = parser.fullMessage(for: error)
      if code == .success {
        print(message)
        return 0
      }
      FileHandle.standardError.write(Data("flr \(name): \(message)\n".utf8))
      return 2
    }
    if show {
      for command in commands { print(command) }
      return 0
    }
    // Every argument is checked before the model loads (a usage error, status 2).
    do { try OneShotCheck.check(commands) } catch {
      FileHandle.standardError.write(Data("flr \(name): \(describeError(error))\n".utf8))
      return 2
    }
    Interrupt.install()
    let session = Session()
    for note in notes { session.note("flr \(name): note: \(note)") }
    do {
      try Interpreter(session: session).run(commands.joined(separator: "\n"), name: "flr \(name)")
    } catch let error as ShellError {
      if case .interrupted = error.kind { return 130 }
      session.note("flr \(name): \(error.message)")
      return 1
    } catch {
      session.note("flr \(name): \(describeError(error))")
      return 1
    }
    return 0
  }
}

extension ShellError.Kind {
  var isUsage: Bool {
    if case .usage = self { return true }
    return false
  }
}
