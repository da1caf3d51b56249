// `log=jsonl`: one JSON object per line, `{"step":12,"epoch":0.5,"loss":2.3125,"lr":0.0001,"time":1764000000.25}`
// (ProdigyPlusScheduleFree adds `"lr/d*lr-group0":...` per group before time); a validation is its own line,
// `{"step":12,"epoch":1,"loss/val":2.5,"time":...}`. Lines are appended and handed to the OS line by line. Numbers are Swift's shortest round-trip decimal form (reading
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
      + "\"lr\":\(Self.number(r.lr)),\(Self.fields(r.scalars))\"time\":\(Self.number(r.time))}\n"
    try output.write(Array(line.utf8))
  }

  public func write(scalars: [TrainingScalar], step: Int, epoch: Double, time: Double) throws {
    let line =
      "{\"step\":\(step),\"epoch\":\(Self.number(epoch)),\(Self.fields(scalars))\"time\":\(Self.number(time))}\n"
    try output.write(Array(line.utf8))
  }

  /// `"tag":value,` for each scalar (tags are flr's own names: no characters JSON must escape).
  static func fields(_ scalars: [TrainingScalar]) -> String {
    scalars.map { "\"\($0.tag)\":\(number($0.value))," }.joined()
  }

  public func close() { output.close() }

  static func number(_ x: Double) -> String {
    guard x.isFinite else { return "null" }
    if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }  // "3", not "3.0"
    return "\(x)"  // shortest round-trip, e.g. 0.0001 or 1e-05
  }
}
