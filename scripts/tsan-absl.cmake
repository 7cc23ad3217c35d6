# Included at abseil's project() by scripts/tsan.sh (CMAKE_PROJECT_absl_INCLUDE).
# Only abseil's locks are built with ThreadSanitizer: their annotations are
# how it knows what a lock is, for Pulse and for gRPC, which locks through
# abseil. The rest of abseil (Status, Cord, strings) is left uninstrumented,
# as gRPC is: gRPC's core hands those objects between its threads in ways
# ThreadSanitizer cannot see, and would report them as races.
# Every target that takes a SpinLock is instrumented too: SpinLock::Lock()
# is inline and annotates only where it is compiled with TSan, while its slow
# path in `base` always does, and a lock taken uninstrumented whose slow path
# runs instrumented stops TSan with "CHECK failed: ... ignore_sync > 0"
# (absl::Now() under contention, from `time`, is how a test met it).
set(pulse_tsan_instrumented synchronization base spinlock_wait
    graphcycles_internal malloc_internal time cordz_handle cordz_info
    random_internal_pool_urbg)
function(pulse_tsan_locks_only dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type MATCHES "^(STATIC|SHARED|OBJECT)_LIBRARY$"
       AND NOT target IN_LIST pulse_tsan_instrumented)
      target_compile_options(${target} PRIVATE -fno-sanitize=thread)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    pulse_tsan_locks_only("${subdir}")
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}"
  CALL pulse_tsan_locks_only "${CMAKE_SOURCE_DIR}")
