#pragma once
// ringloop's HTTP/1.1 client (link ringloop::http): Client on the loop, BlockingClient for
// threads, and the parser and URL type they share.

#include <ringloop/http/blocking_client.hpp>
#include <ringloop/http/client.hpp>
#include <ringloop/http/errors.hpp>
#include <ringloop/http/headers.hpp>
#include <ringloop/http/request.hpp>
#include <ringloop/http/response_parser.hpp>
#include <ringloop/http/url.hpp>
