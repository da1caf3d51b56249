// The one error type of FlrCheckpoints: every failure names the file (or folder) and what is wrong with it.

public struct CheckpointError: Error, CustomStringConvertible, Equatable {
  /// The file or folder the problem is in.
  public let file: String
  public let message: String

  public init(file: String, _ message: String) {
    self.file = file
    self.message = message
  }

  public var description: String { "\(file): \(message)" }
}

/// Overflow-checked product of dimensions (a hostile header can claim any shape).
func checkedProduct(_ values: [Int], file: String, what: String) throws -> Int {
  var total = 1
  for v in values {
    guard v >= 0 else { throw CheckpointError(file: file, "\(what): negative dimension \(v) in \(values)") }
    let (p, overflow) = total.multipliedReportingOverflow(by: v)
    guard !overflow else { throw CheckpointError(file: file, "\(what): shape \(values) overflows") }
    total = p
  }
  return total
}
