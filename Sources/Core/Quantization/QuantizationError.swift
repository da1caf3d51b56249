// Why a weight could not be quantized or a stored quantized weight could not be read back.

public struct QuantizationError: Error, CustomStringConvertible, Equatable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
