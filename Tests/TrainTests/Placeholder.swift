import XCTest

final class PlaceholderTrainTests: XCTestCase {
  func testBuilds() {}
}
