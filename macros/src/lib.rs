//! `#[debug_handler]` for tramline (re-exported as
//! `tramline::debug_handler` with the `macros` feature): a handler that is
//! not one gets an error at the argument or return type that is wrong,
//! instead of one at the route that names the whole function type.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Token, Type};

/// Checks an `async fn` handler where it is written: each argument but the
/// last must be a parts extractor, the last any extractor, the output must
/// implement `IntoResponse`, and the future must be `Send`. Each failure is
/// reported at the argument (or return type) it concerns.
///
/// `#[debug_handler(state = AppState)]` checks against that router state
/// (the default is `()`). The function itself is left as written; the
/// checks compile to nothing.
#[proc_macro_attribute]
pub fn debug_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as Args);
    let function = syn::parse_macro_input!(item as ItemFn);
    expand(&args, &function).into()
}

struct Args {
    state: Option<Type>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Self { state: None });
        }
        let key: syn::Ident = input.parse()?;
        if key != "state" {
            return Err(syn::Error::new(
                key.span(),
                "expected `state = Type`, the router's state type",
            ));
        }
        input.parse::<Token![=]>()?;
        let state = input.parse()?;
        Ok(Self { state: Some(state) })
    }
}

fn expand(args: &Args, function: &ItemFn) -> proc_macro2::TokenStream {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return syn::Error::new(
            sig.fn_token.span(),
            "#[debug_handler] checks `async fn` handlers; a handler must return a future",
        )
        .to_compile_error();
    }
    if !sig.generics.params.is_empty() {
        // The checks name the argument types, which generics would leave
        // open: leave such handlers as they are.
        return quote!(#function);
    }
    let state = args.state.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let name = &sig.ident;
    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Typed(pat) => types.push((*pat.ty).clone()),
            FnArg::Receiver(r) => {
                return syn::Error::new(r.span(), "a handler takes no `self`").to_compile_error();
            }
        }
    }
    let count = types.len();
    let mut checks = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        let check = format_ident!("__tramline_check_argument_{}", i);
        let span = ty.span();
        if i + 1 < count {
            checks.push(quote_spanned! {span=>
                #[allow(non_snake_case, dead_code)]
                fn #check() where #ty: ::tramline::extract::FromRequestParts<#state> {}
            });
        } else {
            checks.push(quote_spanned! {span=>
                #[allow(non_snake_case, dead_code)]
                fn #check() {
                    ::tramline::__private::last_argument::<#state, #ty, _>();
                }
            });
        }
    }
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    checks.push(quote_spanned! {output_span=>
        #[allow(non_snake_case, dead_code)]
        fn __tramline_check_output() where #output: ::tramline::response::IntoResponse {}
    });
    let params: Vec<_> = (0..count).map(|i| format_ident!("a{}", i)).collect();
    let send_span = Span::call_site();
    checks.push(quote_spanned! {send_span=>
        #[allow(non_snake_case, dead_code, unused_variables, clippy::too_many_arguments)]
        fn __tramline_check_send(#(#params: #types),*) {
            ::tramline::__private::future_is_send(#name(#(#params),*));
        }
    });
    // In a const block, the checks see whatever the handler sees (items of
    // an enclosing function body included) and add no names.
    quote! {
        #function

        const _: () = {
            #(#checks)*
        };
    }
}
