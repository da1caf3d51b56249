// `log=jsonl`: one JSON object per line, `{"step":12,"epoch":0.5,"loss":2.3125,"lr":0.0001,"time":1764000000.25}`,
// appended and handed to the OS line by line. Numbers are Swift's shortest round-trip decimal form (reading
// them back gives the same Double); a NaN or infinite loss or lr is written as null (JSON has no NaN).
import Foundation

public final class JSONLLog: TrainingLog {
  private let output: AppendOnlyFile
  public var file: URL { output.url }

  /// Appends to `file` (created with its folder if missing).
  public init(file: URL) throws { output = try AppendOnlyFile(creating: file) }

  public func write(_ r: TrainingRecord) throws {
    let line =
      "{\"step\":\(r.step),\"epoch\":\(Self.number(r.epoch)),\"loss\":\(Self.number(r.loss)),"
      + "\"lr\":\(Self.number(r.lr)),\"time\":\(Self.number(r.time))}\n"
    try output.write(Array(line.utf8))
  }

  public func close() { output.close() }

  static func number(_ x: Double) -> String {
    guard x.isFinite else { return "null" }
    if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }  // "3", not "3.0"
    return "\(x)"  // shortest round-trip, e.g. 0.0001 or 1e-05
  }
}
