# Every external dependency, found once, from Debian bookworm's packages.
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(SQLiteCpp CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)

# With PULSE_STATIC_GRPC, each of gRPC's, Protobuf's and abseil's imported
# libraries (and re2's, c-ares', OpenSSL's and zlib's, which gRPC uses) is
# linked from its static archive, Debian's -dev packages' .a beside the .so.
# A binary linked against the shared ones spends most of its start in the
# dynamic loader, binding symbols across some 70 libraries: `pulse-schema
# --version` took 31 ms against 13 ms static, and `upgrade head` on a new
# file 60-70 ms against 30-40 ms (docs/PERFORMANCE.md). SQLite stays
# shared: SQLiteCpp (tests, the benchmark) links the shared one, and two
# copies of SQLite in one process would not see each other's file locks.
# Static archives must be searched again for what a later one needs, so
# executables link their libraries as one group.
if(PULSE_STATIC_GRPC)
  get_property(imported DIRECTORY PROPERTY IMPORTED_TARGETS)
  foreach(target IN LISTS imported)
    if(NOT target MATCHES "^(absl|gRPC|protobuf|re2|c-ares|ZLIB|OpenSSL)::")
      continue()
    endif()
    get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
    set(properties IMPORTED_LOCATION)
    foreach(config IN LISTS configs)
      list(APPEND properties IMPORTED_LOCATION_${config})
    endforeach()
    foreach(property IN LISTS properties)
      get_target_property(location ${target} ${property})
      if(location MATCHES "^(.*)\\.so(\\.[0-9.]+)?$")
        set(archive "${CMAKE_MATCH_1}.a")
        if(EXISTS "${archive}")
          set_target_properties(${target} PROPERTIES ${property} "${archive}")
        endif()
      endif()
    endforeach()
  endforeach()
  set(CMAKE_CXX_LINK_EXECUTABLE "<CMAKE_CXX_COMPILER> <FLAGS> \
<CMAKE_CXX_LINK_FLAGS> <LINK_FLAGS> <OBJECTS> -o <TARGET> \
-Wl,--start-group <LINK_LIBRARIES> -Wl,--end-group")
endif()

set(PULSE_PROTOC $<TARGET_FILE:protobuf::protoc>)
set(PULSE_GRPC_CPP_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)

if(PULSE_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
