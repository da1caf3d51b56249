import Foundation

// Typed command options: the declarations that help, completion, did-you-mean, type errors and
// REPL.md's tables are all generated from.

/// A parsed option value.
public enum Value: Equatable, Sendable, CustomStringConvertible {
  case int(Int)
  case float(Double)
  case string(String)
  case bool(Bool)

  public var description: String {
    switch self {
    case .int(let value): return String(value)
    case .float(let value): return formatFloat(value)
    case .string(let value): return value
    case .bool(let value): return value ? "true" : "false"
    }
  }
}

/// `4`, `0.25`, `0.0001`, `1e-05`: the shortest text that reads back as the same number.
func formatFloat(_ value: Double) -> String {
  if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
  return "\(value)"
}

public enum OptionType: Sendable {
  /// An integer, optionally within a closed range.
  case int(ClosedRange<Int>?)
  /// A number, optionally within a closed range.
  case float(ClosedRange<Double>?)
  case string
  /// A file or folder; `~` is expanded and completion offers paths.
  case path
  /// One of the listed words.
  case choice([String])
  /// Present or absent: `recursive`, or `recursive=false`.
  case flag
  /// A string with its own syntax (`shard=I/N`): `hint` names it, `check` returns an error or nil.
  case custom(hint: String, check: @Sendable (String) -> String?)

  /// How `help` names the type: `int 1..16`, `path`, `none|onecycle`.
  public var hint: String {
    switch self {
    case .int(let range): return range.map { "int \($0.lowerBound)..\($0.upperBound)" } ?? "int"
    case .float(let range):
      return range.map { "number \(formatFloat($0.lowerBound))..\(formatFloat($0.upperBound))" } ?? "number"
    case .string: return "text"
    case .path: return "path"
    case .choice(let words): return words.joined(separator: "|")
    case .flag: return "flag"
    case .custom(let hint, _): return hint
    }
  }
}

public struct OptionSpec: Sendable {
  public var name: String
  public var type: OptionType
  /// nil: the option has no default (absent unless given or `set`).
  public var defaultValue: Value?
  public var help: String
  /// Whether `set name=value` may give it a session default (false for per-call things like `out=`).
  public var settable: Bool
  /// Whether tab completion offers the resident adapters' names (comma-separated lists: `compare with=`).
  public var namesAdapters: Bool
  /// Earlier words of a choice still accepted (scripts may hold them), each mapped to the word it now is; help
  /// and completion offer only the choices.
  public var aliases: [String: String] = [:]

  public init(
    _ name: String, _ type: OptionType, default defaultValue: Value? = nil, settable: Bool = true, _ help: String,
    namesAdapters: Bool = false
  ) {
    self.name = name
    self.type = type
    self.defaultValue = defaultValue
    self.help = help
    self.settable = settable
    self.namesAdapters = namesAdapters
  }

  public static func flag(_ name: String, settable: Bool = true, _ help: String) -> OptionSpec {
    OptionSpec(name, .flag, default: .bool(false), settable: settable, help)
  }

  /// This option with `aliases` accepted as well.
  public func accepting(_ aliases: [String: String]) -> OptionSpec {
    var spec = self
    spec.aliases = aliases
    return spec
  }

  /// Parses and range-checks `text` given for this option; the error names the option and the range.
  public func parse(_ text: String) throws -> Value {
    func fail(_ expectation: String) -> ShellError {
      ShellError("\(name)=\(text.isEmpty ? "\"\"" : text): expected \(expectation)")
    }
    switch type {
    case .int(let range):
      guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
        throw fail(range.map { "an integer in \($0.lowerBound)..\($0.upperBound)" } ?? "an integer")
      }
      if let range, !range.contains(value) {
        throw fail("an integer in \(range.lowerBound)..\(range.upperBound)")
      }
      return .int(value)
    case .float(let range):
      guard let value = Double(text), value.isFinite else {
        throw fail(
          range.map { "a number in \(formatFloat($0.lowerBound))..\(formatFloat($0.upperBound))" } ?? "a number")
      }
      if let range, !range.contains(value) {
        throw fail("a number in \(formatFloat(range.lowerBound))..\(formatFloat(range.upperBound))")
      }
      return .float(value)
    case .string:
      return .string(text)
    case .path:
      guard !text.isEmpty else { throw fail("a path") }
      return .string(expandTilde(text))
    case .choice(let words):
      if words.contains(text) { return .string(text) }
      if let word = aliases[text] { return .string(word) }
      if let match = words.first(where: { $0.lowercased() == text.lowercased() }) { return .string(match) }
      let suggestion = closestMatch(to: text, among: words).map { " (did you mean \($0)?)" } ?? ""
      throw fail("one of \(words.joined(separator: ", "))" + suggestion)
    case .flag:
      switch text.lowercased() {
      case "true", "yes", "on", "1": return .bool(true)
      case "false", "no", "off", "0": return .bool(false)
      default: throw fail("true or false (or just `\(name)` for true)")
      }
    case .custom(let hint, let check):
      if let problem = check(text) { throw fail("\(hint): \(problem)") }
      return .string(text)
    }
  }
}

/// `~` and `~/x` become the home folder, as a shell would do before the command sees the word.
public func expandTilde(_ path: String) -> String {
  guard path == "~" || path.hasPrefix("~/") else { return path }
  let home = ProcessInfo.processInfo.environment["HOME"] ?? "~"
  return home + path.dropFirst()
}
