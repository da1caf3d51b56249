// `optimizer_args`: the reference script's `--optimizer_args` is a Python dict literal read with `ast.literal_eval`
// (caption_train/util.py `parse_dict`), e.g. "{'weight_decay': 0.01, 'betas': (0.9, 0.999), 'eps': None}".
// flr also takes the shell form "weight_decay=0.01 betas=0.9,0.999 eps=None". Both parse to the same ordered
// key → value list; which keys an optimizer accepts is decided in OptimizerFactory.

import Foundation

public enum OptimizerArgValue: Equatable, Sendable, CustomStringConvertible {
  case number(Double)
  case bool(Bool)
  case none
  case tuple([Double])
  case string(String)

  public var description: String {
    switch self {
    case .number(let d): return "\(d)"
    case .bool(let b): return b ? "True" : "False"
    case .none: return "None"
    case .tuple(let t): return "(" + t.map { "\($0)" }.joined(separator: ", ") + ")"
    case .string(let s): return "'\(s)'"
    }
  }
}

public struct OptimizerArgs: Equatable, Sendable {
  public private(set) var entries: [(key: String, value: OptimizerArgValue)] = []

  public init() {}

  public static func == (a: OptimizerArgs, b: OptimizerArgs) -> Bool {
    a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
  }

  public subscript(key: String) -> OptimizerArgValue? { entries.last { $0.key == key }?.value }
  public var keys: [String] { entries.map(\.key) }

  mutating func set(_ key: String, _ value: OptimizerArgValue) throws {
    guard !key.isEmpty else { throw OptimizerError.badArgument("optimizer_args: empty key") }
    guard self[key] == nil else { throw OptimizerError.badArgument("optimizer_args: '\(key)' given twice") }
    entries.append((key, value))
  }

  /// Parses either form; an empty string gives no arguments.
  public static func parse(_ text: String) throws -> OptimizerArgs {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { return OptimizerArgs() }
    return trimmed.hasPrefix("{") ? try parseDictLiteral(trimmed) : try parseKeyValues(trimmed)
  }

  /// "k=v k=v": values are numbers, True/False/None (any case), comma-separated number tuples, or bare words.
  static func parseKeyValues(_ text: String) throws -> OptimizerArgs {
    var args = OptimizerArgs()
    for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
      guard let eq = token.firstIndex(of: "=") else {
        throw OptimizerError.badArgument("optimizer_args: '\(token)' is not key=value (e.g. weight_decay=0.01)")
      }
      let key = String(token[..<eq]), raw = String(token[token.index(after: eq)...])
      guard !raw.isEmpty else { throw OptimizerError.badArgument("optimizer_args: '\(key)=' has no value") }
      try args.set(key, try scalarOrTuple(raw, key: key))
    }
    return args
  }

  static func scalarOrTuple(_ raw: String, key: String) throws -> OptimizerArgValue {
    switch raw.lowercased() {
    case "true": return .bool(true)
    case "false": return .bool(false)
    case "none", "null": return .none
    default: break
    }
    if raw.contains(",") {
      let parts = raw.trimmingCharacters(in: CharacterSet(charactersIn: "()[]")).split(separator: ",")
      let numbers = parts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard numbers.count == parts.count, !numbers.isEmpty else {
        throw OptimizerError.badArgument("optimizer_args: \(key)=\(raw) is not a list of numbers")
      }
      return .tuple(numbers)
    }
    if let d = Double(raw) { return .number(d) }
    return .string(raw)
  }
}
